"""Paimon's upload benchmark: the emulator and a deployed-style gunicorn on 127.0.0.1.

Measures, in one run and on one machine (so the ratios mean something on a noisy one):
stock mega.py's ``Mega.upload()``; Paimon end to end (a client sends the file to
``POST /upload`` and waits for the link, plus the time from the last byte sent to the
link); Paimon's uploader alone; the one-core crypto limit; the handling worker's peak RSS
against its idle RSS; ``/healthz`` latency with 4 uploads in flight; aggregate throughput
with 1, 2, 4 and 8 concurrent uploads; over the emulator shaped like a long path to
MEGA (50 ms per request, 3 MB/s per connection, 24 MB/s in all), Paimon through both doors
and stock mega.py; over two longer, thinner ones (100 ms, 10 MB/s per connection,
100 MB/s in all; 150 ms, 2 MB/s, 50 MB/s), Paimon through both doors with the POSTs its
uploader kept on the wire and its buffers; the bytes sent again after a SIGKILL; and
slow clients held by a default server. Prints a table; ``--json PATH`` writes every
figure.

    .venv/bin/python scripts/bench [--quick] [--json PATH]
    .venv/bin/python scripts/bench --listing [--jobs 100000] [--json PATH]
    .venv/bin/python scripts/bench --recovery RUNS  # instead: a crashed server's recovery
    .venv/bin/python scripts/bench --only long-paths  # or shaped-paths: those paths alone

(``scripts/bench`` alone re-runs itself with .venv/bin/python.) ``--quick`` uses small
files so CI can prove the benchmark works in well under a minute; it asserts nothing
about speed. MB is 10^6 bytes, MiB 2^20. ``--listing`` measures only the owner's
listing (``listing``): pages of 50 from each job store filled with ``--jobs`` jobs. See
docs/benchmarks.md.

The parts: ``plan`` (file sizes and units), ``client`` (uploads as curl sends them),
``rig`` (the running emulator and server), one module per measurement (``crypto``,
``stock``, ``throughput``, ``rss``, ``healthz``, ``network``, ``recovery``,
``listing``), ``report``
(the table and the ratios) and ``cli`` (the command line, the order of the run).
"""
