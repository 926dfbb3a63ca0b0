// Shows only the settings of the chosen mechanism; without JavaScript every section stays visible.
const mechanism = document.getElementById("mechanism");
const sections = document.querySelectorAll("#round-form fieldset[data-for]");

function update() {
  for (const section of sections) {
    section.hidden = !section.dataset.for.split(" ").includes(mechanism.value);
  }
}

mechanism.addEventListener("change", update);
update();
