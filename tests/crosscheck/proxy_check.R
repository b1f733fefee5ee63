# Reference values from R's survey package for tests/crosscheck/test_proxy_r.py.
# Usage: Rscript proxy_check.R CASES_DIR
# CASES_DIR/<case>.csv: one row per judged trace (cell, N, y, x = proxy or its cell's known mean, sub = cell,
# s2 = the working model's variance of the trace);
# CASES_DIR/<case>.pop.csv: the known totals (name = model-matrix column, total).
# The separate regression estimator: calibrate on cell counts and each cell's proxy total.
# The pooled one (the report's default, before cross-fitting): calibrate on cell counts and the proxy's
# total, one slope; variance = s2 makes the regression weights w/s2 = the report's a_c.
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
out <- function(case, key, value) cat(case, key, sprintf("%.17g", value), "\n")
for (path in sort(Sys.glob(file.path(args[1], "*.csv")))) {
  if (grepl("\\.pop\\.csv$", path)) next
  case <- sub("\\.csv$", "", basename(path))
  data <- read.csv(path, colClasses = c(cell = "character", sub = "character"))
  pop <- read.csv(sub("\\.csv$", ".pop.csv", path), colClasses = c(name = "character"))
  des <- svydesign(ids = ~1, strata = ~cell, fpc = ~N, data = data)
  mm <- model.matrix(~ 0 + sub + cell:x, data)
  totals <- setNames(pop$total, pop$name)[colnames(mm)]
  cal <- calibrate(des, ~ 0 + sub + cell:x, population = totals)
  m <- svymean(~y, cal)
  out(case, "mean", coef(m)[1]); out(case, "se", SE(m)[1])
  pooled <- calibrate(des, ~ 0 + sub + x, population = setNames(pop$total, pop$name)[c(colnames(mm)[
    startsWith(colnames(mm), "sub")], "x")], variance = data$s2)
  mp <- svymean(~y, pooled)
  out(case, "pooled_mean", coef(mp)[1]); out(case, "pooled_se", SE(mp)[1])
  data$w <- data$N / ave(rep(1, nrow(data)), data$cell, FUN = sum)
  des0 <- svydesign(ids = ~1, strata = ~cell, weights = ~w, data = data)  # analytic: no fpc
  pooled0 <- calibrate(des0, ~ 0 + sub + x, population = setNames(pop$total, pop$name)[c(colnames(mm)[
    startsWith(colnames(mm), "sub")], "x")], variance = data$s2)
  out(case, "pooled_se0", SE(svymean(~y, pooled0))[1])
  fixed <- svymean(~I(y - 0.5 * x), des)  # the difference estimator with λ = 0.5 fixed, no missing proxies
  out(case, "fixed_se", SE(fixed)[1])
}
