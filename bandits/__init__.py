"""Neural bandits for searching dangerous polypharmacy (OptimNeuralTS, Larouche et al. 2023).

The algorithm modules (datasets, optimneuralts, baselines, metrics, screening, catalog_dataset)
are pure numpy/torch with no Django import; params, runners' callers, presenters, api and urls
are the site's side. Nothing is imported here, so loading the Django app costs no torch import.
"""
