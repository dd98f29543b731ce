// The features of a MovieLens sample, in the order of its tables and dense columns: a list
// of names with no file access, so that the built-in model (src/data/sources/builtin_models.ts)
// loads where there are no files.

/** The categorical features, one embedding table each. */
export const MOVIELENS_TABLES = ["user", "item", "gender", "age", "occupation", "zip", "release_year", "genres"];
/** The dense (numeric) features. */
export const MOVIELENS_DENSE = ["age", "release_year", "timestamp"];
