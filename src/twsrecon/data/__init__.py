"""Reading the providers' files, the analysis grid, units and time axis, the cube, the demo world."""
