-- mlpaint's data table: every MNIST digit, one row each.
--   id      0..69999 in file order: the 60,000 MNIST-train rows, then the 10,000 MNIST-test rows
--   label   the digit drawn, 0..9
--   pixels  28x28 = 784 grey levels, row-major, 0 = paper, 255 = ink (exactly as in the IDX files)
--   source  'mnist-train' or 'mnist-test': the original MNIST split (our folds are hash-based)
CREATE TABLE IF NOT EXISTS digits (
    id INTEGER PRIMARY KEY,
    label UTINYINT NOT NULL,
    pixels UTINYINT[784] NOT NULL,
    source VARCHAR NOT NULL
);
