-- Where does the model look? SHAP explanations of the active model, in SQL.
-- ml_explain(pixels, d) gives each pixel's contribution to digit d's score, and
-- ml_explain_bias(d) + list_sum(ml_explain(pixels, d)) = ml_scores(pixels)[d + 1] exactly.
-- Run with `mlpaint sql -f sql/explain.sql`.

-- The mean absolute SHAP value of every pixel, for each digit, over the test fold: the model's
-- "where does it look" map (784 values per digit, row-major 28x28). Explaining costs far more
-- than scoring, so this uses the first 1,000 test rows; remove the LIMIT for the whole fold.
CREATE OR REPLACE TEMP TABLE explained AS
SELECT d AS digit, ml_explain(pixels, d) AS shap
FROM (SELECT pixels FROM digits_test ORDER BY id LIMIT 1000), range(10) AS t(d);

CREATE OR REPLACE TEMP TABLE where_it_looks AS
SELECT digit, list(mean_abs_shap ORDER BY pixel) AS mean_abs_shap
FROM (
    SELECT digit, i - 1 AS pixel, avg(abs(shap[i])) AS mean_abs_shap
    FROM explained, range(1, 785) AS t(i)
    GROUP BY digit, i
)
GROUP BY digit;

SELECT digit, mean_abs_shap FROM where_it_looks ORDER BY digit;

-- The same map for one digit (here 0) drawn as text: '#' where the model looks most.
SELECT pixel // 28 AS row,
       string_agg(CASE WHEN share > 0.5 THEN '#' WHEN share > 0.2 THEN '+' WHEN share > 0.05
                       THEN '.' ELSE ' ' END, '' ORDER BY pixel) AS where_it_looks_for_0
FROM (
    SELECT i - 1 AS pixel, mean_abs_shap[i] / list_max(mean_abs_shap) AS share
    FROM where_it_looks, range(1, 785) AS t(i)
    WHERE digit = 0
)
GROUP BY row
ORDER BY row;

-- The explanation of one test example (the first in the test fold): its true label, the
-- prediction, and how the label's score splits into the bias plus the pixels' contributions.
SELECT id, label, ml_predict(pixels) AS predicted,
       ml_explain_bias(label) AS bias,
       list_sum(ml_explain(pixels, label)) AS pixels_sum,
       ml_scores(pixels)[label + 1] AS score,
       ml_explain(pixels, label) AS explanation
FROM digits_test
ORDER BY id
LIMIT 1;
