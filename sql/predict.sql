-- What `mlpaint predict` writes for each Parquet shard of digits (columns id and pixels). Each
-- shard is scored in a DuckDB of its own, with the ml_* functions of the chosen model, on this
-- machine or on a Dask worker; the rows become <output folder>/<shard name>.parquet.
SELECT
    id,
    ml_predict(pixels) AS prediction,
    ml_probabilities(pixels) AS probabilities,
    ml_uncertainty(pixels) AS uncertainty,
    ml_is_digit(pixels) AS is_digit
FROM shard;
