-- Bags, defined like the folds: by a hash in SQL. This file is the one home of the bag rule;
-- training selects each bag's rows with it, wherever the bag trains (this process or a Dask
-- worker reading its own copy of the data), so the same config and seed give the same bags.
--
-- bag_hash(id, seed, bag): the first 64 bits (big-endian) of md5 of 'id:seed:bag', as row_hash
-- in sql/folds.sql does for the folds. In Python:
--   int.from_bytes(hashlib.md5(f"{id}:{seed}:{bag}".encode()).digest()[:8], "big")
CREATE OR REPLACE MACRO bag_hash(id, seed, bag) AS
    ('0x' || left(md5(concat_ws(':', id, seed, bag)), 16))::UBIGINT;

-- in_bag(id, seed, bag, fraction): whether the row is in bag `bag` of a run seeded `seed` that
-- gives each bag about `fraction` of the rows (without replacement). The top 53 bits of the hash,
-- over 2^53, are a uniform number in [0, 1) that a DOUBLE holds exactly.
CREATE OR REPLACE MACRO in_bag(id, seed, bag, fraction) AS
    (bag_hash(id, seed, bag) >> 11)::DOUBLE / 9007199254740992.0 < fraction;
