"""The sampling policy language: the TOML file (`parse`) into plain data (`model`), its strata,
signals, weight and evaluators. Below `sampling`: it says what to draw, not how."""
