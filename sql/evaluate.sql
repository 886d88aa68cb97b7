-- Evaluating the active model on the hash test fold, in SQL, with the ml_* functions.
-- Run with `mlpaint sql -f sql/evaluate.sql` (it registers ml_predict and friends).
-- The figures equal the ones training stored in the `models` table.

-- Score the test fold once: each query below reads this table instead of re-scoring.
CREATE OR REPLACE TEMP TABLE test_scored AS
SELECT id, label, ml_predict(pixels) AS predicted, ml_probabilities(pixels) AS probabilities
FROM digits_test;

-- Top-1 accuracy, and MLDB's one-vs-rest weighted accuracy (the figure MLDB's demo reported,
-- 0.9944): for each digit, the accuracy of "is it this digit?", weighted by the digit's rows.
-- It is roughly 1 - 2 x (top-1 error) / 10, so do not compare it with top-1 accuracy.
WITH per_digit AS (
    SELECT d AS digit,
           count(*) FILTER (WHERE label = d) AS support,
           avg(((label = d) = (predicted = d))::INT) AS one_vs_rest_accuracy
    FROM test_scored, range(10) AS t(d)
    GROUP BY d
)
SELECT (SELECT count(*) FROM test_scored) AS test_rows,
       (SELECT avg((predicted = label)::INT) FROM test_scored) AS top1_accuracy,
       sum(support * one_vs_rest_accuracy) / sum(support) AS mldb_weighted_accuracy
FROM per_digit;

-- The confusion matrix: one row per actual digit, one column per predicted digit.
PIVOT (SELECT label AS actual, predicted FROM test_scored)
ON predicted IN (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
USING count(*)
GROUP BY actual
ORDER BY actual;

-- Precision and recall per digit: of the rows predicted d, how many are d; of the d's, how many
-- were found.
SELECT d AS digit,
       count(*) FILTER (WHERE label = d) AS support,
       count(*) FILTER (WHERE label = d AND predicted = d)
           / nullif(count(*) FILTER (WHERE predicted = d), 0) AS precision,
       count(*) FILTER (WHERE label = d AND predicted = d)
           / nullif(count(*) FILTER (WHERE label = d), 0) AS recall
FROM test_scored, range(10) AS t(d)
GROUP BY d
ORDER BY d;

-- The ten most confident mistakes, joined back to their pixels (paste an id into the paint
-- page's test-set panel, or GET /v1/digits/<id>, to see it).
SELECT s.id, s.label, s.predicted, round(list_max(s.probabilities), 4) AS confidence, d.pixels
FROM test_scored AS s
JOIN digits AS d USING (id)
WHERE s.predicted != s.label
ORDER BY confidence DESC, s.id
LIMIT 10;
