"""The jobs, one module each: `cycle`, `train`, `report`, `full_cycle`, `demo`, `detect`.

The CLI, the daemon and the GitHub Actions workflow all call these functions: there is one
way to run a job. Each job takes one typed `OpsConfig` and a time `now` (epoch seconds, real
or simulated), logs its progress through `logging`, and returns a result value.
`workspace` (files, lock) and `observing` (sources, detection pass) are what the jobs share.

Nothing is imported here, so `ai-ops --help` does not load the detectors or the SDKs.
"""
