"""The study: how the reports' numbers were made.

Not part of what a user imports to train or predict: the library
(``catunet.*``) never imports from here. ARCHITECTURE.md groups its
modules by job: runs (runstore, variants, experiments, pretraining),
choosing on validation (choosing, folds, encoder_ladder, defaults), speed
(bench, bench_workers, serve_report, browser) and reports (render,
discussions, reports, report_page, encoder_report, bench_report, report;
the words in ``templates/``).
"""
