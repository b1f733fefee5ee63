# Reference values from R's survey package for tests/crosscheck/test_weighted_r.py: a sample drawn
# with `[sampling] weight` (each trace its own pi), the judged traces with pi as probability weights,
# calibrated to the known cell sizes (postStratify on the cells), with-replacement variance.
# Usage: Rscript weighted_check.R CASE_DIR  (sample.csv: cell, stratum, pi, y, p; cells.csv: cell, Freq)
suppressMessages(library(survey))
options(survey.lonely.psu = "certainty")
args <- commandArgs(trailingOnly = TRUE)
out <- function(key, value) cat("weighted", key, sprintf("%.17g", value), "\n")
data <- read.csv(file.path(args[1], "sample.csv"), colClasses = c(cell = "character", stratum = "character"))
cells <- read.csv(file.path(args[1], "cells.csv"), colClasses = c(cell = "character"))
des <- svydesign(ids = ~1, strata = ~cell, probs = ~pi, data = data)
ps <- postStratify(des, ~cell, cells)
m <- svymean(~y, ps)
out("mean", coef(m)[1]); out("se", SE(m)[1])
data$r <- data$y - data$p
ps <- postStratify(svydesign(ids = ~1, strata = ~cell, probs = ~pi, data = data), ~cell, cells)
r <- svymean(~r, ps)
out("residual_mean", coef(r)[1]); out("residual_se", SE(r)[1])
for (s in sort(unique(data$stratum))) {
  ms <- svymean(~y, subset(ps, stratum == s))
  out(paste0("stratum:", s, ":mean"), coef(ms)[1]); out(paste0("stratum:", s, ":se"), SE(ms)[1])
}
# the report's variance: with-replacement times each cell's 1 - f (f = judged / N), R's fpc = N;
# the traces with pi = 1 are a stratum of their own of size drawn_certain (all drawn): a certainty
# stratum when all were judged, else a simple random sample of them (f = judged / drawn)
certain <- data$pi >= 1
data$vstratum <- ifelse(certain, paste0(data$cell, "#certain"), data$cell)
data$N <- cells$Freq[match(data$cell, cells$cell)]
data$fpcN <- ifelse(certain, data$drawn_certain, data$N - data$drawn_certain)
psf <- postStratify(svydesign(ids = ~1, strata = ~vstratum, probs = ~pi, fpc = ~fpcN, data = data), ~cell, cells)
mf <- svymean(~y, psf)
out("fpc_mean", coef(mf)[1]); out("fpc_se", SE(mf)[1])
rf <- svymean(~r, psf)
out("fpc_residual_se", SE(rf)[1])
out("certain", sum(certain))
