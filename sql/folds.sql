-- Hash-based train/test folds, MLDB style (`rowHash() % 5`). This file is the one home of the
-- fold rule: the default experiment's predicates and the REST API call these macros and views.
--
-- row_hash(id): the first 64 bits (big-endian) of md5 of the id written in decimal.
-- md5 is a fixed standard, so the folds are the same on every machine and every DuckDB
-- release (DuckDB's own hash() is not promised to be stable). In Python:
--   int.from_bytes(hashlib.md5(str(id).encode()).digest()[:8], "big")
CREATE OR REPLACE MACRO row_hash(id) AS ('0x' || left(md5(CAST(id AS VARCHAR)), 16))::UBIGINT;

-- fold_of(id): the digit's fold 0..4, MLDB's `rowHash() % 5`.
CREATE OR REPLACE MACRO fold_of(id) AS CAST(row_hash(id) % 5 AS UTINYINT);

-- is_test_fold(id): whether the digit is held out for testing (fold 0, about 20%).
CREATE OR REPLACE MACRO is_test_fold(id) AS fold_of(id) = 0;

-- About 80% of the digits: the training rows.
CREATE OR REPLACE VIEW digits_train AS
SELECT * FROM digits WHERE NOT is_test_fold(id);

-- About 20% of the digits: the held-out test rows.
CREATE OR REPLACE VIEW digits_test AS
SELECT * FROM digits WHERE is_test_fold(id);

-- Every digit with its fold 0..4, for k-fold cross-validation (fold 0 = digits_test).
CREATE OR REPLACE VIEW digits_folds AS
SELECT *, fold_of(id) AS fold FROM digits;
