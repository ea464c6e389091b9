r"""Small-area estimates of unregistered bottom-40 % households: an area-level Fay-Herriot model.

Per district, the direct survey share ``y_d`` of households that are unregistered and in the
bottom 40 % (:mod:`rahat.engine.gap.direct`) is modelled as

.. math:: y_d = \theta_d + e_d, \quad \theta_d = x_d^\top \beta + v_d,
          \quad v_d \sim N(0, \sigma_v^2), \quad e_d \sim N(0, \psi_d),

with covariates ``x_d`` an agency has without the survey: the share of the district's census
households the registry does not hold times the registry's share of households at or below the
survey's PMT threshold, and the registry's urban share
(:func:`rahat.engine.gap.estimate.covariates`). ``sigma_v^2`` is fitted by REML (a 1-D bounded
search with :func:`scipy.optimize.minimize_scalar`), ``beta`` by generalised least squares, and
``theta_d`` predicted by the EBLUP ``gamma_d y_d + (1 - gamma_d) x_d' beta``,
``gamma_d = sigma_v^2 / (sigma_v^2 + psi_d)``; a district without sample gets the synthetic
``x_d' beta``. The sampling variances ``psi_d`` are smoothed (a generalised variance function:
``deff * p (1 - p) / n_d`` with the national share ``p`` and the median design effect), since
the direct variances of small districts are themselves too noisy (or zero). The MSE of each
prediction comes from a parametric bootstrap (González-Manteiga et al. 2008), and the 90 %
interval is ``theta_d +- 1.645 sqrt(MSE)``, times the district's census households.

samplics 0.6.1 (``EblupAreaModel``) implements the same model but is archived upstream (it says
so on import), so the fit here uses numpy and scipy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.stats import norm


@dataclass(frozen=True)
class FayHerriotFit:
    """A fitted Fay-Herriot model.

    Attributes
    ----------
    beta
        Fixed effects (GLS), one per covariate column.
    sigma2_v
        Variance of the area effects (REML, at least zero).
    """

    beta: np.ndarray
    sigma2_v: float


def _gls(y: np.ndarray, psi: np.ndarray, X: np.ndarray, sigma2_v: float) -> np.ndarray:
    w = 1.0 / (sigma2_v + psi)
    return np.linalg.solve(X.T @ (X * w[:, None]), X.T @ (w * y))


def _neg_restricted_loglik(sigma2_v: float, y: np.ndarray, psi: np.ndarray, X: np.ndarray) -> float:
    v = sigma2_v + psi
    xtvx = X.T @ (X / v[:, None])
    beta = np.linalg.solve(xtvx, X.T @ (y / v))
    resid = y - X @ beta
    return 0.5 * float(np.sum(np.log(v)) + np.linalg.slogdet(xtvx)[1] + np.sum(resid**2 / v))


def fit_fay_herriot(y: np.ndarray, psi: np.ndarray, X: np.ndarray) -> FayHerriotFit:
    """Fit ``sigma_v^2`` by REML and ``beta`` by GLS.

    Parameters
    ----------
    y
        Direct estimates of the sampled areas.
    psi
        Their (known) sampling variances, all positive.
    X
        Covariates of the sampled areas (with an intercept column), full column rank.

    Returns
    -------
    FayHerriotFit
        The fit; ``sigma2_v`` is zero where the restricted likelihood is highest there.
    """
    upper = max(float(np.var(y)) * 4.0, float(np.max(psi)), 1e-12)
    found = minimize_scalar(
        _neg_restricted_loglik, bounds=(0.0, upper), args=(y, psi, X), method="bounded"
    )
    sigma2_v = float(found.x)
    if _neg_restricted_loglik(0.0, y, psi, X) <= found.fun:
        sigma2_v = 0.0
    return FayHerriotFit(beta=_gls(y, psi, X, sigma2_v), sigma2_v=sigma2_v)


def eblup(
    fit: FayHerriotFit, y: np.ndarray, psi: np.ndarray, X: np.ndarray, sampled: np.ndarray
) -> np.ndarray:
    """EBLUP of every area: shrunk direct estimate where ``sampled``, synthetic elsewhere.

    ``y`` and ``psi`` are read only where ``sampled`` (any value elsewhere).
    """
    synthetic = X @ fit.beta
    v = fit.sigma2_v + np.where(sampled, psi, 1.0)
    gamma = np.where(sampled, fit.sigma2_v / np.where(v > 0, v, 1.0), 0.0)
    return np.where(sampled, gamma * np.where(sampled, y, 0.0) + (1 - gamma) * synthetic, synthetic)


@dataclass(frozen=True)
class SmallAreaResult:
    """Fay-Herriot predictions for all areas.

    Attributes
    ----------
    estimate
        EBLUP (synthetic where unsampled) of each area's share.
    mse
        Parametric-bootstrap MSE of each estimate.
    lower, upper
        The two-sided interval ``estimate -+ z sqrt(mse)``, clipped to [0, 1].
    fit
        The model fitted on the survey.
    """

    estimate: np.ndarray
    mse: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    fit: FayHerriotFit


def fay_herriot_shares(
    y: np.ndarray,
    psi: np.ndarray,
    X: np.ndarray,
    sampled: np.ndarray,
    *,
    bootstrap: int = 200,
    seed: int = 0,
    confidence: float = 0.90,
    households: np.ndarray | None = None,
) -> SmallAreaResult:
    """Fit the area-level model and predict every area's share with a bootstrap interval.

    Parameters
    ----------
    y, psi
        Direct estimates and their sampling variances (read where ``sampled``).
    X
        Covariates of every area, with an intercept column.
    sampled
        Boolean mask of the areas with a direct estimate (fitted on).
    bootstrap
        Bootstrap replicates ``B`` of the parametric bootstrap.
    seed
        Seed of the bootstrap (same inputs and seed, same intervals).
    confidence
        Coverage of the interval.
    households
        Households of every area, where the target is the area's realised share (a finite
        population): an unsampled area's MSE then gains the binomial variance
        ``theta (1 - theta) / N`` of that share around the model's ``theta`` (a sampled area's
        direct estimate measures the realised share itself).

    Returns
    -------
    SmallAreaResult
        Estimates, bootstrap MSEs and intervals for all areas.
    """
    sampled = np.asarray(sampled, bool)
    fit = fit_fay_herriot(y[sampled], psi[sampled], X[sampled])
    estimate = eblup(fit, y, psi, X, sampled)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x4648]))  # "FH"
    synthetic = X @ fit.beta
    sd_e = np.sqrt(np.where(sampled, psi, 0.0))
    squared = np.zeros(len(y))
    for _ in range(bootstrap):
        theta = synthetic + rng.normal(0.0, np.sqrt(fit.sigma2_v), len(y))
        y_star = theta + rng.normal(0.0, 1.0, len(y)) * sd_e
        fit_star = fit_fay_herriot(y_star[sampled], psi[sampled], X[sampled])
        squared += (eblup(fit_star, y_star, psi, X, sampled) - theta) ** 2
    mse = squared / max(bootstrap, 1)
    if households is not None:
        theta = np.clip(estimate, 0.0, 1.0)
        mse = mse + np.where(sampled, 0.0, theta * (1 - theta) / np.maximum(households, 1.0))
    half = norm.ppf(0.5 + confidence / 2) * np.sqrt(mse)
    return SmallAreaResult(
        estimate=estimate,
        mse=mse,
        lower=np.clip(estimate - half, 0.0, 1.0),
        upper=np.clip(estimate + half, 0.0, 1.0),
        fit=fit,
    )
