"""Data protection used by EUPG's pre-training (light package: submodules import on use).

* :mod:`.columns`    which columns are numeric and which form one-hot categorical groups
* :mod:`.mdav`       k-anonymity by MDAV microaggregation (Domingo-Ferrer and Torra 2005)
* :mod:`.kanon`      an independent k-anonymity checker (counts of quasi-identifier combinations)
* :mod:`.dp_tabular` epsilon-DP records: Laplace for numeric attributes, exponential-mechanism
                     selection for categorical ones (OpenDP noise)
* :mod:`.dp_pix`     DP-Pix for images (Fan 2018): b x b pixelisation plus Laplace noise (OpenDP)
"""
