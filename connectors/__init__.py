"""Backend adapters for tracestrata. Each subpackage implements the Protocols in
`tracestrata.protocols` and is registered under the `tracestrata.connectors`
entry-point group; backend SDK imports live only here."""
