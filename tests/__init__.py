"""detnas tests: unit/ (pure logic, seconds), integration/ (real models, single training or validation steps),
e2e/ (the CLI through whole searches and benchmarks). Shared code: helpers.py; fixtures: conftest.py."""
