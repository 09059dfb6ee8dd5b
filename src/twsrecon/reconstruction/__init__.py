"""The GR*Ai*CE reconstruction: samples and split, the LSTM models and their trainer, hyperparameters, fits, merge."""
