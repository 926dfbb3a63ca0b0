"""On-chain settlement: the Vyper contracts, the node client, the Settled-event listener and its API."""
