-- The registry as mlpaint wrote it before the names were settled (git dbb5ff0:sql/models.sql),
-- kept verbatim so tests can build an old database and check its upgrade.

-- The model registry: every trained model, its evaluation, and which one serves predictions.
-- Created on first training (mlpaint.registry.ensure_registry); every statement is idempotent.

-- One row per trained model; (name, version) identifies it, versions count 1, 2, ... per name.
CREATE TABLE IF NOT EXISTS models (
    name VARCHAR NOT NULL,               -- the model's name, chosen at training time
    version INTEGER NOT NULL,            -- 1 for a name's first model, then 2, 3, ...
    created_at TIMESTAMP NOT NULL,       -- when training finished (UTC)
    config JSON NOT NULL,                -- the experiment, every hyperparameter filled in
    metrics JSON NOT NULL,               -- test (and train) metrics: headline, per fold, mean/std
    model BLOB NOT NULL,                 -- the servable model (first fold's): BaggedBoostedTrees.to_bytes()
    folds JSON NOT NULL,                 -- [{training_where, testing_where}, ...] as trained
    row_counts JSON NOT NULL,            -- [{fold, train, test}, ...]: rows each fold used
    n_trees INTEGER NOT NULL,            -- trees in the servable model, all boosters together
    size_bytes INTEGER NOT NULL,         -- length of the model blob
    seconds DOUBLE NOT NULL,             -- wall time of the whole training, every fold
    library_versions JSON NOT NULL,      -- python, numpy, lightgbm, duckdb, mlpaint at training
    PRIMARY KEY (name, version)
);

-- The test-set confusion matrix of every fold: all 100 cells, zeros included.
CREATE TABLE IF NOT EXISTS model_confusion (
    model VARCHAR NOT NULL,              -- models.name
    version INTEGER NOT NULL,            -- models.version
    fold INTEGER NOT NULL,               -- 0-based position in models.folds
    actual UTINYINT NOT NULL,            -- the true digit
    predicted UTINYINT NOT NULL,         -- the top-1 predicted digit
    n INTEGER NOT NULL                   -- how many test rows had this (actual, predicted)
);

-- The first fold's test rows, scored by the servable model; join to digits on id to see mistakes.
-- Written only when input_data yields an id column.
CREATE TABLE IF NOT EXISTS model_predictions (
    model VARCHAR NOT NULL,              -- models.name
    version INTEGER NOT NULL,            -- models.version
    id INTEGER NOT NULL,                 -- digits.id of the test row
    label UTINYINT NOT NULL,             -- the true digit (as input_data gave it)
    predicted UTINYINT NOT NULL,         -- the top-1 predicted digit
    probabilities FLOAT[10] NOT NULL     -- the model's probability for each digit 0..9
);

-- The model pinned to serve predictions: at most one row. Empty = the newest model serves.
CREATE TABLE IF NOT EXISTS active_model (
    name VARCHAR NOT NULL,               -- models.name
    version INTEGER NOT NULL             -- models.version
);

-- The model that serves: the pinned one if it exists, else the newest by created_at.
CREATE OR REPLACE VIEW serving_model AS
SELECT name, version FROM (
    SELECT m.name, m.version, 0 AS rank_, m.created_at
    FROM active_model AS a JOIN models AS m ON m.name = a.name AND m.version = a.version
    UNION ALL
    SELECT name, version, 1 AS rank_, created_at FROM models
)
ORDER BY rank_, created_at DESC, version DESC, name
LIMIT 1;

-- One line per model for people: headline test metrics (means over folds) and size.
CREATE OR REPLACE VIEW models_summary AS
SELECT
    m.name,
    m.version,
    m.created_at,
    (s.name IS NOT NULL) AS active,
    CAST(m.metrics ->> '$.test.accuracy' AS DOUBLE) AS accuracy,
    CAST(m.metrics ->> '$.test.mldb_weighted_accuracy' AS DOUBLE) AS mldb_weighted_accuracy,
    CAST(m.metrics ->> '$.test.log_loss' AS DOUBLE) AS log_loss,
    json_array_length(m.folds) AS n_folds,
    m.n_trees,
    m.size_bytes,
    m.config ->> '$.description' AS description
FROM models AS m
LEFT JOIN serving_model AS s ON s.name = m.name AND s.version = m.version
ORDER BY m.name, m.version;
