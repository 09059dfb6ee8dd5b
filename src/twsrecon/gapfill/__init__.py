"""The BCNN gap filling of Mo et al. (2022): inputs, the particle CBAM network, SVGD training, experiments, products."""
