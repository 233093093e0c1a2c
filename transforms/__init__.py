"""One module per stage of the scoring flow.

listing -> labels -> reading -> decoding -> inference -> postprocess -> metrics / sinks.
`records` holds the element types that travel between them; `errors` the error rows.
"""
