-- Hash-based train/test folds, MLDB style (`rowHash() % 5`).
--
-- row_hash(id): the first 64 bits (big-endian) of md5 of the id written in decimal.
-- md5 is a fixed standard, so the folds are the same on every machine and every DuckDB
-- release (DuckDB's own hash() is not promised to be stable). In Python:
--   int.from_bytes(hashlib.md5(str(id).encode()).digest()[:8], "big")
CREATE OR REPLACE MACRO row_hash(id) AS ('0x' || left(md5(CAST(id AS VARCHAR)), 16))::UBIGINT;

-- About 80% of the digits: the training rows.
CREATE OR REPLACE VIEW digits_train AS
SELECT * FROM digits WHERE row_hash(id) % 5 != 0;

-- About 20% of the digits: the held-out test rows.
CREATE OR REPLACE VIEW digits_test AS
SELECT * FROM digits WHERE row_hash(id) % 5 = 0;

-- Every digit with its fold 0..4, for k-fold cross-validation (fold 0 = digits_test).
CREATE OR REPLACE VIEW digits_folds AS
SELECT *, CAST(row_hash(id) % 5 AS UTINYINT) AS fold FROM digits;
