# Reference values from R's survey package for tests/crosscheck/test_twophase_r.py.
# Usage: Rscript twophase_check.R CSV   (one row per judged trace: cell, N, J, H or NA, reviewed)
# Phase 1: stratified SRS of judged traces (fpc N); phase 2: the reviewed ones, SRS inside each cell;
# the judge calibrates phase 2 to phase 1 per cell (the separate regression estimator).
suppressMessages(library(survey))
d <- read.csv(commandArgs(trailingOnly = TRUE)[1], colClasses = c(cell = "character"))
d$reviewed <- as.logical(d$reviewed)
des <- twophase(id = list(~1, ~1), strata = list(~cell, ~cell), subset = ~reviewed, fpc = list(~N, NULL), data = d)
cal <- calibrate(des, phase = 2, formula = ~ 0 + cell + cell:J, calfun = "linear")
m <- svymean(~H, cal)
v <- attr(vcov(m), "phases")
cat(sprintf("mean %.17g\nphase1 %.17g\nphase2 %.17g\n", coef(m)[1], v$phase1[1, 1], v$phase2[1, 1]))
