# Reference values from R's survey package for tests/crosscheck/test_survey_r.py.
# Usage: Rscript survey_check.R CASES_DIR
# Every CASES_DIR/<case>.csv has columns cell, N, y, stratum, group and
# CASES_DIR/<case>.opt holds the lonely-PSU policy. Prints "case key value" lines.
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
out <- function(case, key, value) cat(case, key, sprintf("%.17g", value), "\n")
for (path in sort(Sys.glob(file.path(args[1], "*.csv")))) {
  case <- sub("\\.csv$", "", basename(path))
  options(survey.lonely.psu = readLines(sub("\\.csv$", ".opt", path))[1])
  data <- read.csv(path, colClasses = c(cell = "character", stratum = "character", group = "character"))
  des <- svydesign(ids = ~1, strata = ~cell, fpc = ~N, data = data)
  m <- svymean(~y, des)
  out(case, "mean", coef(m)[1]); out(case, "se", SE(m)[1]); out(case, "df", degf(des))
  if (all(data$y %in% c(0, 1))) {
    ci <- attr(svyciprop(~I(y == 1), des, method = "beta"), "ci")
    out(case, "kg_low", ci[1]); out(case, "kg_high", ci[2])
  }
  ci_t <- confint(m, df = degf(des))
  out(case, "t_low", ci_t[1]); out(case, "t_high", ci_t[2])
  data$w <- data$N / ave(rep(1, nrow(data)), data$cell, FUN = sum)  # N_c / m_c
  des0 <- svydesign(ids = ~1, strata = ~cell, weights = ~w, data = data)  # analytic: the same weights, no fpc
  for (s in sort(unique(data$stratum))) {
    sub <- subset(des, stratum == s)
    ms <- svymean(~y, sub)
    out(case, paste0("stratum:", s, ":mean"), coef(ms)[1]); out(case, paste0("stratum:", s, ":se"), SE(ms)[1])
    out(case, paste0("stratum:", s, ":se0"), SE(svymean(~y, subset(des0, stratum == s)))[1])
  }
  groups <- sort(unique(data$group))
  if (length(groups) == 2) {
    by <- svyby(~y, ~group, des, svymean, covmat = TRUE)
    for (g in groups) {
      mg <- svymean(~y, subset(des, group == g))
      out(case, paste0("group:", g, ":mean"), coef(mg)[1]); out(case, paste0("group:", g, ":se"), SE(mg)[1])
      if (all(data$y %in% c(0, 1)) && coef(mg)[1] > 0 && coef(mg)[1] < 1) {
        ci <- attr(svyciprop(~I(y == 1), subset(des, group == g), method = "beta"), "ci")
        out(case, paste0("group:", g, ":kg_low"), ci[1]); out(case, paste0("group:", g, ":kg_high"), ci[2])
      }
    }
    delta <- svycontrast(by, setNames(c(-1, 1), groups))
    out(case, "delta", coef(delta)[1]); out(case, "delta_se", SE(delta)[1])
    by0 <- svyby(~y, ~group, des0, svymean, covmat = TRUE)
    out(case, "delta_se0", SE(svycontrast(by0, setNames(c(-1, 1), groups)))[1])
  }
}
