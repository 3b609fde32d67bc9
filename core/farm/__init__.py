"""The farm: a shot list as an Open Job Description job bundle, and the tasks it runs.

``shotlist`` and ``timeline`` read what an artist or an editor hands over (a CSV, a JSON list,
an OTIO timeline whose markers or named gaps are the shots); ``plan`` is the bundle's own
record of every shot's request; ``bundle`` writes the OpenJD template and its parameter files;
``tasks`` is what a worker runs inside them (generate, the judged draft batch, publish).

genplate never schedules anything itself: the farm's scheduler (``openjd run``, AWS Deadline
Cloud, any OpenJD runner) decides what runs where; every task only finds its job on the shared
root, or records it, and follows it.
"""
