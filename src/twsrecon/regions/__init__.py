"""The GR*Ai*CE regions, the cells each trains on, and the plan of the run they imply."""
