"""The study: how the reports' numbers were made.

Not part of what a user imports to train or predict: the library
(``catunet.*``) never imports from here.

Modules:
    runstore     the one place that decides whether a finished run is reused
    experiments  variants x seeds on one split, through the run store
    stats        means, sample standard deviations, paired differences
    reports      each step's Markdown report and plots, from its JSON
    report       REPORT.md and README's results table, from the JSON
    bench        speed against plain Keras; bench_report renders it
"""
