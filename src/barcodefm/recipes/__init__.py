"""Recipes of the models barcodefm ships (``barcodefm recipe NAME``): the data each one reads from
the project's shared data folder and the exact fine-tuning options, so a bundled model can be
regenerated with one command. Tooling: never travels with the weights."""
