-- Exploring the digits: the queries a user starts with.
-- Run them all with `mlpaint sql -f sql/explore.sql`, or paste one into the paint page's SQL panel.

-- Rows and features per split: the hash folds put about 80% of the digits in training.
SELECT 'train' AS split, count(*) AS rows, max(len(pixels)) AS features FROM digits_train
UNION ALL
SELECT 'test', count(*), max(len(pixels)) FROM digits_test
ORDER BY split DESC;

-- How many examples of each digit there are, per split: the classes are roughly balanced.
SELECT label,
       count(*) FILTER (WHERE fold != 0) AS train,
       count(*) FILTER (WHERE fold = 0) AS test
FROM digits_folds
GROUP BY label
ORDER BY label;

-- Average ink per digit: the number of non-zero pixels. A 1 uses far less ink than a 0 or an 8.
SELECT label,
       round(avg(len(list_filter(pixels, lambda p: p > 0))), 1) AS avg_ink_pixels,
       round(avg(list_avg(pixels)), 1) AS avg_grey_level
FROM digits
GROUP BY label
ORDER BY label;

-- One random example of each digit from the test fold (its id, to look up or score).
SELECT label, arg_min(id, random()) AS example_id
FROM digits_test
GROUP BY label
ORDER BY label;

-- The pixel-wise mean image of a digit (here 3), drawn as 28 lines of text:
-- each character is one pixel's average grey level over every 3 in the data.
WITH mean_pixels AS (
    SELECT i - 1 AS pixel, avg(pixels[i]) AS grey
    FROM digits, range(1, 785) AS t(i)
    WHERE label = 3
    GROUP BY i
)
SELECT pixel // 28 AS row,
       string_agg(CASE WHEN grey > 160 THEN '#' WHEN grey > 80 THEN '+' WHEN grey > 20 THEN '.'
                       ELSE ' ' END, '' ORDER BY pixel) AS mean_image
FROM mean_pixels
GROUP BY row
ORDER BY row;
