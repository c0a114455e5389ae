"""Tasks and their data: MNIST read row by row or pixel by pixel, the Free Spoken Digit Dataset,
keyword speech (Speech Commands through tensorflow-datasets, or a synthetic espeak-ng set), with
log-mel features; every task reads a local data directory before it downloads anything."""
