# Reference values from R's survey package for tests/crosscheck/test_evaluator_r.py.
# Usage: Rscript evaluator_check.R DIR
# DIR/sample.csv: one row per trace the evaluator judged (stratum, N = the stratum's filtered
# traces, y, prob = the evaluator's rate); DIR/strata.csv: stratum, Freq (the same N).
# Prints "evaluator key value" lines.
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(file.path(args[1], "sample.csv"), colClasses = c(stratum = "character"))
pop <- read.csv(file.path(args[1], "strata.csv"), colClasses = c(stratum = "character"))
out <- function(key, value) cat("evaluator", key, sprintf("%.17g", value), "\n")
# conditional on the realised n_h: stratified SRSWOR with the strata's filtered sizes
des <- svydesign(ids = ~1, strata = ~stratum, fpc = ~N, data = data)
m <- svymean(~y, des)
out("mean", coef(m)[1]); out("se", SE(m)[1])
ci <- attr(svyciprop(~I(y == 1), des, method = "beta"), "ci")
out("kg_low", ci[1]); out("kg_high", ci[2])
for (s in sort(unique(data$stratum))) {
  ms <- svymean(~y, subset(des, stratum == s))
  out(paste0("stratum:", s, ":mean"), coef(ms)[1]); out(paste0("stratum:", s, ":se"), SE(ms)[1])
}
# the unconditional view: a Bernoulli (Poisson) design with prob = rate, post-stratified to the strata
bern <- svydesign(ids = ~1, probs = ~prob, data = data)
ps <- svymean(~y, postStratify(bern, ~stratum, pop))
out("ps_mean", coef(ps)[1]); out("ps_se", SE(ps)[1])
