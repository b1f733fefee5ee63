"""`tracestrata demo` and the local Phoenix launcher it, the tests and the benchmarks share.

`run.py` plays the whole loop (start Phoenix, seed a day, sync, judge, report);
`phoenix_server.py` starts a real Phoenix on 127.0.0.1 and seeds it. Neither is part
of the Phoenix adapter (`tracestrata.connectors.phoenix`); both sit above the job.
"""
