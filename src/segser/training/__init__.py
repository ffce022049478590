"""Training and evaluation: corpora, label sets, protocols, configs, the training loop, runs, evaluation, metrics,
benchmarks, augmentation and what training fits for adaptation."""
