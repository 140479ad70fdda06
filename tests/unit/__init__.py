"""Pure logic: genomes, operators, strategies, the store, input checks, the import layers. No training; seconds."""
