# Reference values from R's survey package for tests/crosscheck/test_weighted_twophase_r.py: two-phase
# estimation on a phase 1 drawn with `[sampling] weight` (each judged trace its own Hajek weight g,
# calibrated to N per cell), phase 2 the reviewed traces (an SRS inside each cell of the judged ones).
# R's calibrate(phase = 2) calibrates the phase-2 weights m/r to phase-1 *sample* totals; the two-phase
# regression estimator (Sarndal, Swensson & Wretman 1992, 9.7) calibrates g m/r to the g-weighted
# totals of x = (cell, J). The same estimator in R: calibrate on x~ = g x with working variance
# x~' (1, ..., 1, 0) = g (so q = 1/g): the weights g (m/r)(1 + x' lambda) with sum g w2 x = sum_phase1 g x.
# Usage: Rscript weighted_twophase_check.R CSV  (one row per judged trace: cell, N, g, J, H or NA, reviewed)
suppressMessages(library(survey))
d <- read.csv(commandArgs(trailingOnly = TRUE)[1], colClasses = c(cell = "character"))
d$reviewed <- as.logical(d$reviewed)
d$pig <- 1 / d$g
cells <- sort(unique(d$cell))
names <- character(0)
for (k in seq_along(cells)) {
  name <- paste0("x", k)
  d[[name]] <- d$g * (d$cell == cells[k])
  names <- c(names, name)
}
d$xJ <- d$g * d$J
formula <- as.formula(paste("~ 0 +", paste(c(names, "xJ"), collapse = " + ")))
for (with_fpc in c(TRUE, FALSE)) {
  fpc <- if (with_fpc) list(~N, NULL) else NULL
  des <- twophase(id = list(~1, ~1), strata = list(~cell, ~cell), probs = list(~pig, NULL), fpc = fpc,
                  subset = ~reviewed, data = d)
  cal <- calibrate(des, phase = 2, formula = formula, calfun = "linear", variance = c(rep(1, length(cells)), 0))
  m <- svymean(~H, cal)
  v <- attr(vcov(m), "phases")
  tag <- if (with_fpc) "fpc" else "nofpc"
  cat(sprintf("%s mean %.17g\n%s phase1 %.17g\n%s phase2 %.17g\n", tag, coef(m)[1], tag, v$phase1[1, 1],
              tag, v$phase2[1, 1]))
  # the phase-2 variance by hand from lm()'s weighted fit: without the leverage it must be survey's
  # number above; with it (each squared calibrated residual over 1 - h_ii, Valliant 2002) it is ours
  p2 <- d[d$reviewed, ]
  m_c <- table(d$cell)[p2$cell]
  r_c <- table(p2$cell)[p2$cell]
  p2$d2 <- p2$g * as.numeric(m_c / r_c)
  lmfit <- lm(H ~ 0 + cell + J, data = p2, weights = d2)
  u <- weights(cal)[weights(cal) > 0] * residuals(lmfit) / sum(d$g)
  ubar <- ave(u, p2$cell)
  f2 <- 1 - as.numeric(r_c / m_c)
  plain <- sum(f2 * as.numeric(r_c / (r_c - 1)) * (u - ubar)^2)
  leverage <- sum(f2 * u^2 / (1 - hatvalues(lmfit)))
  cat(sprintf("%s phase2_plain %.17g\n%s phase2_leverage %.17g\n", tag, plain, tag, leverage))
}
