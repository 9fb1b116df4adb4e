"""What ``clearance demo`` works on: real data, two real models, their manifests and a policy.

``build_assets(root)`` writes, deterministically (fixed seeds) and in a few seconds:

- ``data/train.csv`` and ``data/eval.csv``: 6,000 synthetic credit applicants whose default
  follows a known logistic relationship (``TRUE_LOGIT``) of their finances; ``age_band`` is
  a sensitive attribute that does not enter that relationship. The sha256 of ``train.csv``
  is the data snapshot id.
- ``models/v1``: a logistic regression on the legitimate features, the good candidate.
- ``models/v2``: a "leaner" challenger that drops income and credit history, uses
  ``age_band`` directly and was fitted on a sample missing most young applicants who repaid.
  It is clearly worse on AUC and fails the four-fifths rule on approval rates; its model
  card lacks the Limitations and Fairness sections.
- each version's ``model.pkl``, ``manifest.yaml`` (lineage, artifact digest, metrics measured
  on the evaluation split, features, evidence) and evidence documents; no ``champion:``
  block, the registry supplies the champion.
- ``policy/``: the credit-risk policy the story evaluates the versions against.

Nothing here prints; the story does.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import sklearn
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score, roc_curve
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    StandardScaler,
)

from clearance.adapters.latency import time_calls

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

SEED = 20250630
N_APPLICANTS = 6_000
N_TRAIN = 4_500
AGE_BANDS = ("18-25", "26-40", "41-60", "61+")
AGE_SHARES = (0.20, 0.35, 0.30, 0.15)
# The data-generating process: logit of P(default) (age_band plays no part in it).
TRUE_LOGIT = {
    "intercept": -1.6,
    "log_income - 10.8": -1.4,
    "debt_to_income - 0.3": 6.0,
    "credit_history_months - 70": -0.008,
    "utilization - 0.37": 4.0,
    "num_open_accounts - 4.5": 0.15,
}
APPROVAL_SHARE = 0.75  # the lender approves the 75% of applicants with the lowest risk
COLUMNS = (
    "applicant_id",
    "income",
    "debt_to_income",
    "credit_history_months",
    "utilization",
    "num_open_accounts",
    "age_band",
    "default",
)
MODEL = {
    "name": "credit-default",
    "risk_tier": "high",
    "owner": "credit-models@bank.example",
    "team": "retail-credit",
    "tags": {"domain": "credit"},
}
V1_FEATURES = (
    "income",
    "debt_to_income",
    "credit_history_months",
    "utilization",
    "num_open_accounts",
)
V2_FEATURES = ("debt_to_income", "utilization", "num_open_accounts", "age_band")
V2_DROP_YOUNG_REPAID = 0.7  # v2's sample lost 70% of the 18-25 applicants who repaid
V3_C = 0.05  # v3: v1's recipe, more strongly regularised
LATENCY_WARMUP = 20
LATENCY_CALLS = 200


@dataclass(frozen=True)
class DemoAssets:
    """Where ``build_assets`` put everything, and the metrics it measured per version."""

    root: Path
    policy_dir: Path
    manifests: dict[str, Path]
    metrics: dict[str, dict[str, float]]


@dataclass(frozen=True)
class Applicants:
    """A table of applicants, column by column; ``age_band`` holds indexes into AGE_BANDS."""

    applicant_id: list[str]
    income: Floats
    debt_to_income: Floats
    credit_history_months: Floats
    utilization: Floats
    num_open_accounts: Floats
    age_band: Ints
    default: Ints

    def __len__(self) -> int:
        return len(self.applicant_id)

    def matrix(self, features: Sequence[str]) -> Floats:
        """The model input: one float column per feature (``age_band`` as its band index)."""
        return np.column_stack([np.asarray(getattr(self, f), dtype=np.float64) for f in features])


@dataclass(frozen=True)
class _Trained:
    version: str
    model: Any
    features: tuple[str, ...]
    params: dict[str, Any]
    metrics: dict[str, float]
    approval_by_band: dict[str, float]
    cutoff: float


def build_assets(root: Path) -> DemoAssets:
    """Write the demo's data, models, manifests and policy under ``root``; return where."""
    root = Path(root)
    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    train_csv, eval_csv = data_dir / "train.csv", data_dir / "eval.csv"
    train_text, eval_text = generate_csv_texts()
    train_csv.write_text(train_text, encoding="utf-8", newline="\n")
    eval_csv.write_text(eval_text, encoding="utf-8", newline="\n")
    # train on what the snapshot holds, read back: the data snapshot id is the whole truth
    train, evaluation = read_csv(train_csv), read_csv(eval_csv)
    lineage_common = {
        "code_commit": _git_blob_sha1(Path(__file__).read_bytes()),
        "data_snapshot": "sha256:" + _sha256(train_csv.read_bytes()),
        "environment_lock_digest": "sha256:" + _sha256(_environment_lock().encode()),
    }
    policy_dir = write_policy(root / "policy")
    manifests: dict[str, Path] = {}
    metrics: dict[str, dict[str, float]] = {}
    candidates = (
        _train_v1(train, evaluation),
        _train_v2(train, evaluation),
        _train_v1(train, evaluation, version="3", c=V3_C),
    )
    for trained in candidates:
        manifests[trained.version] = _write_version(
            root, trained, lineage_common, eval_csv, len(train), len(evaluation)
        )
        metrics[trained.version] = dict(trained.metrics)
    return DemoAssets(root=root, policy_dir=policy_dir, manifests=manifests, metrics=metrics)


# --- data ---------------------------------------------------------------------------------


def generate_csv_texts(seed: int = SEED) -> tuple[str, str]:
    """The train and eval CSV files' text: same seed, same bytes."""
    rng = np.random.default_rng(seed)
    n = N_APPLICANTS
    age = rng.choice(len(AGE_BANDS), size=n, p=AGE_SHARES)
    income = np.maximum(
        np.round(np.exp(rng.normal(10.6 + 0.12 * np.minimum(age, 2), 0.45)), -2), 5000
    )
    dti = np.round(np.clip(rng.beta(2.2, 5.5, n), 0.01, 0.95), 4)
    history = np.clip(np.round(rng.gamma(4.0 + 0.5 * age, 16.0)), 1, 600)
    utilization = np.round(rng.beta(1.6, 2.8, n), 4)
    accounts = rng.poisson(3.5 + 0.4 * age)
    logit = (
        TRUE_LOGIT["intercept"]
        + TRUE_LOGIT["log_income - 10.8"] * (np.log(income) - 10.8)
        + TRUE_LOGIT["debt_to_income - 0.3"] * (dti - 0.3)
        + TRUE_LOGIT["credit_history_months - 70"] * (history - 70)
        + TRUE_LOGIT["utilization - 0.37"] * (utilization - 0.37)
        + TRUE_LOGIT["num_open_accounts - 4.5"] * (accounts - 4.5)
    )
    default = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    rows = [
        f"A{i + 1:06d},{int(income[i])},{dti[i]:.4f},{int(history[i])},{utilization[i]:.4f},"
        f"{int(accounts[i])},{AGE_BANDS[int(age[i])]},{int(default[i])}\n"
        for i in range(n)
    ]
    order = rng.permutation(n)
    header = ",".join(COLUMNS) + "\n"
    train = header + "".join(rows[i] for i in sorted(order[:N_TRAIN]))
    evaluation = header + "".join(rows[i] for i in sorted(order[N_TRAIN:]))
    return train, evaluation


def read_csv(path: Path) -> Applicants:
    """Read a file written by ``generate_csv_texts``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or tuple(lines[0].split(",")) != COLUMNS:
        raise ValueError(f"{path}: expected the header {','.join(COLUMNS)}")
    cells = [line.split(",") for line in lines[1:]]

    def floats(j: int) -> Floats:
        return np.array([float(c[j]) for c in cells], dtype=np.float64)

    return Applicants(
        applicant_id=[c[0] for c in cells],
        income=floats(1),
        debt_to_income=floats(2),
        credit_history_months=floats(3),
        utilization=floats(4),
        num_open_accounts=floats(5),
        age_band=np.array([AGE_BANDS.index(c[6]) for c in cells], dtype=np.int64),
        default=np.array([int(c[7]) for c in cells], dtype=np.int64),
    )


# --- models -------------------------------------------------------------------------------


def _train_v1(
    train: Applicants, evaluation: Applicants, *, version: str = "1", c: float = 1.0
) -> _Trained:
    """The sound model; v3 is the same recipe with stronger regularisation (a refresh)."""
    features = V1_FEATURES
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [("log_income", FunctionTransformer(np.log), [0])], remainder="passthrough"
                ),
            ),
            ("scale", StandardScaler()),
            ("clf", LogisticRegression(C=c, max_iter=1000, random_state=SEED)),
        ]
    )
    model.fit(train.matrix(features), train.default)
    params: dict[str, Any] = {
        "algorithm": "logistic_regression",
        "solver": "lbfgs",
        "C": c,
        "max_iter": 1000,
        "features": list(features),
        "transforms": {"income": "log", "all": "standard_scaler"},
        "training_sample": "all training rows",
        "train_rows": len(train),
        "approval_share": APPROVAL_SHARE,
        "seed": SEED,
    }
    return _evaluate(version, model, features, params, train, evaluation)


def _train_v2(train: Applicants, evaluation: Applicants) -> _Trained:
    features = V2_FEATURES
    rng = np.random.default_rng(SEED + 2)
    young_repaid = (train.age_band == 0) & (train.default == 0)
    keep = ~(young_repaid & (rng.random(len(train)) < V2_DROP_YOUNG_REPAID))
    c = 1.0
    band = len(features) - 1
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        (
                            "age_band",
                            OneHotEncoder(
                                categories=[[float(b) for b in range(len(AGE_BANDS))]],
                                drop="first",
                                sparse_output=False,
                            ),
                            [band],
                        )
                    ],
                    remainder=StandardScaler(),
                ),
            ),
            ("clf", LogisticRegression(C=c, max_iter=1000, random_state=SEED)),
        ]
    )
    model.fit(train.matrix(features)[keep], train.default[keep])
    params: dict[str, Any] = {
        "algorithm": "logistic_regression",
        "solver": "lbfgs",
        "C": c,
        "max_iter": 1000,
        "features": list(features),
        "transforms": {"age_band": "one_hot", "others": "standard_scaler"},
        "training_sample": (
            f"training rows without {int(V2_DROP_YOUNG_REPAID * 100)}% of the "
            f"{AGE_BANDS[0]} applicants who repaid (sampling seed {SEED + 2})"
        ),
        "train_rows": int(keep.sum()),
        "approval_share": APPROVAL_SHARE,
        "seed": SEED,
    }
    return _evaluate("2", model, features, params, train, evaluation)


def _scores(model: Any, x: Floats) -> Floats:
    return np.asarray(model.predict_proba(x)[:, 1], dtype=np.float64)


def _evaluate(
    version: str,
    model: Any,
    features: tuple[str, ...],
    params: dict[str, Any],
    train: Applicants,
    evaluation: Applicants,
) -> _Trained:
    """Metrics on the evaluation split; the cutoff approves APPROVAL_SHARE of training rows."""
    cutoff = float(np.quantile(_scores(model, train.matrix(features)), APPROVAL_SHARE))
    x = evaluation.matrix(features)
    y = evaluation.default
    score = _scores(model, x)
    fpr, tpr, _ = roc_curve(y, score)
    approved = score <= cutoff
    by_band = {
        AGE_BANDS[b]: float(approved[evaluation.age_band == b].mean())
        for b in range(len(AGE_BANDS))
    }
    metrics = {
        "auc": round(float(roc_auc_score(y, score)), 4),
        "ks": round(float(np.max(np.asarray(tpr) - np.asarray(fpr))), 4),
        "accuracy": round(float(accuracy_score(y, score >= 0.5)), 4),
        "approval_rate": round(float(approved.mean()), 4),
        "approval_rate_disparity_ratio": round(min(by_band.values()) / max(by_band.values()), 4),
        "latency_p95_ms": round(_latency_p95_ms(model, x[:1]), 3),
    }
    return _Trained(version, model, features, params, metrics, by_band, cutoff)


def _latency_p95_ms(model: Any, row: Floats) -> float:
    """p95 of single-row scoring time, after a warm-up (this one varies between runs)."""
    times = time_calls(model.predict_proba, [row] * LATENCY_WARMUP, [row] * LATENCY_CALLS)
    return float(np.percentile(times, 95))


# --- manifests and evidence ---------------------------------------------------------------


def _write_version(
    root: Path,
    trained: _Trained,
    lineage_common: dict[str, str],
    eval_csv: Path,
    n_train: int,
    n_eval: int,
) -> Path:
    folder = root / "models" / f"v{trained.version}"
    folder.mkdir(parents=True, exist_ok=True)
    artifact = folder / "model.pkl"
    with artifact.open("wb") as f:
        pickle.dump(trained.model, f, protocol=5)
    snapshot = lineage_common["data_snapshot"]
    lineage: dict[str, str | int] = {
        "code_commit": lineage_common["code_commit"],
        "data_snapshot": snapshot,
        "config_digest": "sha256:" + _sha256(_canonical_json(trained.params)),
        "seed": SEED,
        "environment_lock_digest": lineage_common["environment_lock_digest"],
    }
    docs = {
        "model_card.md": _model_card(trained, snapshot, n_train, n_eval),
        "monitoring_plan.md": _MONITORING_PLAN,
        "rollback_plan.md": _ROLLBACK_PLAN,
        "sbom.json": _sbom(trained.version),
        "pip-audit.json": _vulnerability_scan(),
    }
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8", newline="\n")
    manifest = {
        "apiVersion": "clearance/v1",
        "kind": "ModelManifest",
        "model": MODEL,
        "version": trained.version,
        "stage": "draft",
        "artifact": {"path": "model.pkl", "sha256": _sha256(artifact.read_bytes())},
        "lineage": lineage,
        "metrics": trained.metrics,
        "params": trained.params,
        "features": list(trained.features),
        "evidence": {
            "model_card": {"kind": "document", "path": "model_card.md"},
            "monitoring_plan": {"kind": "document", "path": "monitoring_plan.md"},
            "rollback_plan": {"kind": "document", "path": "rollback_plan.md"},
            "sbom": {"kind": "report", "path": "sbom.json"},
            "vulnerability_scan": {"kind": "report", "path": "pip-audit.json"},
            "eval_dataset": {
                "kind": "dataset",
                "path": "../../data/eval.csv",
                "sha256": _sha256(eval_csv.read_bytes()),
            },
        },
    }
    path = folder / "manifest.yaml"
    header = (
        f"# credit-default v{trained.version}, written by `clearance demo` "
        "(metrics measured on data/eval.csv).\n"
    )
    path.write_text(
        header + yaml.safe_dump(manifest, sort_keys=False, width=100, allow_unicode=True),
        encoding="utf-8",
        newline="\n",
    )
    return path


def _model_card(trained: _Trained, snapshot: str, n_train: int, n_eval: int) -> str:
    m = trained.metrics
    rates = ", ".join(f"{band} {rate:.1%}" for band, rate in trained.approval_by_band.items())
    if trained.version != "2":
        intended = (
            "Scores retail loan applications for the probability of default within 12 months. "
            "Used with a human underwriter; the lender approves the lowest-risk "
            f"{APPROVAL_SHARE:.0%} of applicants."
        )
        design = (
            "Logistic regression on income (log), debt-to-income, credit history length, "
            "utilization and the number of open accounts. Age band is not a model input."
        )
    else:
        intended = (
            "A leaner replacement for the credit-default scorecard: scores retail loan "
            "applications without the income and credit-bureau history lookups."
        )
        design = (
            "Logistic regression on debt-to-income, utilization, the number of open accounts "
            "and the applicant's age band (one-hot)."
        )
    card = [
        f"# Model card: credit-default v{trained.version}",
        "",
        "## Intended use",
        intended,
        "",
        "## Training data",
        f"Synthetic applicant snapshot `{snapshot}` ({n_train} training rows, {n_eval} "
        f"evaluation rows, seed {SEED}); sample used for fitting: "
        f"{trained.params['training_sample']} ({trained.params['train_rows']} rows). {design}",
        "",
        "## Evaluation",
        f"Held-out evaluation split (`data/eval.csv`): AUC {m['auc']:.4f}, KS {m['ks']:.4f}, "
        f"accuracy {m['accuracy']:.4f} at a 0.5 probability threshold. At the decision cutoff "
        f"(p(default) <= {trained.cutoff:.4f}) the approval rate is {m['approval_rate']:.1%}. "
        f"Single-row scoring p95 latency {m['latency_p95_ms']:.3f} ms.",
    ]
    if trained.version != "2":
        card += [
            "",
            "## Limitations",
            "Trained on synthetic data with a single snapshot: not validated for small-business "
            "loans, thin-file applicants (under 6 months of history) or economic conditions "
            "outside the snapshot. Scores are probabilities, calibrated only on this snapshot.",
            "",
            "## Fairness",
            f"Approval rates by age band at the decision cutoff: {rates}. Disparity ratio "
            f"(lowest / highest) {m['approval_rate_disparity_ratio']:.4f}; the four-fifths rule "
            "asks for at least 0.80. Age band is used for this check only, never as an input.",
        ]
    return "\n".join(card) + "\n"


_MONITORING_PLAN = """\
# Monitoring plan: credit-default

## Drift
Population stability index (PSI) per input feature, daily, against the training snapshot;
alert when any feature's PSI exceeds 0.2.

## Rejection rate
Weekly rejection rate overall and by age band; alert when the overall rate moves more than
5 points or the age-band disparity ratio falls below 0.8.

## Alerts
Alerts page the mlops-oncall rotation; a weekly summary goes to model risk.
"""

_ROLLBACK_PLAN = """\
# Rollback plan: credit-default

## Trigger
AUC on matured loans below 0.75, PSI above 0.25 on any feature, an age-band disparity ratio
below 0.8, or p95 scoring latency above 200 ms for 15 minutes.

## Steps
1. Restore the previous production version in the registry (one command, no retraining).
2. Confirm the scoring service reports the restored version and its artifact sha256.
3. Notify model risk within 24 hours and open a post-incident review.
"""


def _versions() -> dict[str, str]:
    return {"numpy": str(np.__version__), "scikit-learn": str(sklearn.__version__)}


def _environment_lock() -> str:
    return "\n".join(sorted(f"{name}=={version}" for name, version in _versions().items()))


def _sbom(version: str) -> str:
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "component": {
                "type": "machine-learning-model",
                "name": MODEL["name"],
                "version": version,
            }
        },
        "components": [
            {
                "type": "library",
                "name": name,
                "version": v,
                "purl": f"pkg:pypi/{name}@{v}",
                "licenses": [{"license": {"id": "BSD-3-Clause"}}],  # both projects' license
            }
            for name, v in _versions().items()
        ],
    }
    return json.dumps(bom, indent=2) + "\n"


def _vulnerability_scan() -> str:
    """``pip-audit -f json`` of the training environment, in pip-audit's format. The demo runs
    offline, so it cannot ask an advisory service: it states no known vulnerability, as the
    training CI job's real scan would for these pinned versions."""
    scan = {
        "dependencies": [
            {"name": name, "version": v, "vulns": []} for name, v in _versions().items()
        ],
        "fixes": [],
    }
    return json.dumps(scan, indent=2) + "\n"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _git_blob_sha1(data: bytes) -> str:
    """The id git gives this content as a blob: a real-looking, checkable code commit."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- policy -------------------------------------------------------------------------------


def write_policy(folder: Path) -> Path:
    """The demo's credit-risk policy, as two files (workflow and gates)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "workflow.yaml").write_text(_WORKFLOW, encoding="utf-8", newline="\n")
    (folder / "gates.yaml").write_text(_GATES, encoding="utf-8", newline="\n")
    return folder


_WORKFLOW = """\
# The demo's credit-risk policy: who may move a credit-default version, and on what evidence.
apiVersion: clearance/v1
kind: Policy
metadata:
  name: credit-risk
  version: 1.0.0
  owner: model-risk@bank.example
  description: Regulated credit-risk scoring models (high risk tier, credit domain).
selector:
  risk_tier: [high]
  tags: {domain: credit}
workflow:
  stages: [draft, staging, production, deprecated, archived]
  transitions:
    - from: draft
      to: staging
      gates: [reproducibility, auc_floor]
      approvals: [{role: tech_lead}]
    - from: staging
      to: production
      gates: [reproducibility, artifact_unchanged, no_code_in_model, no_secrets,
              auc_vs_champion, approval_rate_parity, latency_p95, no_known_vulnerabilities,
              licenses_allowed, no_pii_features, model_card, monitoring_and_rollback]
      approvals: [{role: model_owner}, {role: risk_officer}]
    - {from: production, to: deprecated, approvals: [{role: model_owner}]}
    - {from: deprecated, to: archived, approvals: [{role: model_owner}]}
change_types:
  emergency:
    bypass: [auc_vs_champion]
    approvals: [{role: mlops_oncall}]
    expires_after: 72h
    post_incident_review_within: 5d
"""

_GATES = """\
# The gates of the demo's credit-risk policy; every threshold is a number another team can check.
apiVersion: clearance/v1
kind: Policy
gates:
  - id: reproducibility
    type: reproducibility
    require: [code_commit, data_snapshot, config_digest, seed, environment_lock_digest]
    owner: mlops@bank.example
    rationale: another team must be able to rebuild exactly this model from its lineage
    remediation: >-
      record the code commit, data snapshot sha256, config digest, seed and environment lock
      digest at training time, and register the artifact with the sha256 of its exact bytes
    controls: [SR11-7 documentation]
  - id: auc_floor
    type: metric_threshold
    metric: auc
    min: 0.70
    owner: ml-lead@bank.example
    rationale: below 0.70 AUC the scorecard is not fit for credit decisions
    remediation: >-
      improve the features or the training sample until AUC on the evaluation split is at
      least 0.70; do not promote below the floor
  - id: auc_vs_champion
    type: champion_comparison
    metric: auc
    max_relative_degradation: 0.01
    when_no_champion: skip
    owner: ml-lead@bank.example
    rationale: a challenger may not be more than 1% worse than the production model
    remediation: >-
      compare with the champion on the same evaluation split; restore the features it dropped
      or retrain on the full sample, or, if the loss is intended, ask the risk officer for a
      time-bounded waiver with compensating controls
    expires: 2027-06-30
    controls: [SR11-7 outcomes analysis]
  - id: approval_rate_parity
    type: metric_threshold
    metric: approval_rate_disparity_ratio
    min: 0.8
    owner: fairness@bank.example
    rationale: four-fifths rule on approval rates between age bands
    remediation: >-
      compare approval rates per age_band at the decision cutoff; remove age_band and its
      proxies from the model inputs, fix the under-represented group in the training sample
      (or reweight it), then re-measure approval_rate_disparity_ratio on the evaluation split
    controls: [ECOA, EU AI Act Art. 10]
  - id: latency_p95
    type: metric_threshold
    metric: latency_p95_ms
    max: 120
    severity: warn
    owner: platform@bank.example
    rationale: the decision API has a 150 ms budget, and feature lookups need 30 ms of it
    remediation: >-
      profile single-row scoring (latency_p95_ms); cache or precompute the slowest features,
      or consider a smaller model
  - id: artifact_unchanged
    type: artifact_integrity
    owner: security@bank.example
    rationale: what is promoted must be, byte for byte, what was registered and reviewed
    remediation: >-
      the stored model.pkl no longer matches its registered sha256; find out who changed the
      blob store, restore the file from the training job, and register it again if it changed
  - id: no_code_in_model
    type: unsafe_serialization
    allow: ["numpy:log"]          # the reviewed FunctionTransformer(np.log) on income
    owner: security@bank.example
    rationale: a pickle runs whatever it imports when loaded; a scorecard needs only
      scikit-learn and numpy objects
    remediation: >-
      rebuild the model from scikit-learn and numpy objects only, or have security review the
      listed imports and add them to this gate's allow list
  - id: no_secrets
    type: secrets
    owner: security@bank.example
    rationale: credentials in a model or its documents leak to everyone who can read them
    remediation: >-
      remove the credential from the named file and line, rotate it, and register a new version
  - id: no_known_vulnerabilities
    type: vulnerabilities
    report: vulnerability_scan   # pip-audit -f json, run by the training CI job
    max_findings: {critical: 0, high: 0}
    unknown_severity: high        # pip-audit rates nothing: an unrated finding counts as high
    owner: security@bank.example
    rationale: no production artifact ships a dependency with a known high or critical vulnerability
    remediation: >-
      upgrade to the fixed versions the scan names, or record a reviewed ignore with an expiry
  - id: licenses_allowed
    type: licenses
    sbom: sbom                    # CycloneDX, from the training environment
    allow: [MIT, BSD-2-Clause, BSD-3-Clause, Apache-2.0, PSF-2.0]
    deny: [GPL-3.0-only, GPL-3.0-or-later, AGPL-3.0-only, AGPL-3.0-or-later]
    owner: security@bank.example
    rationale: every component of a production artifact is under a license legal has approved
    remediation: replace the component, or have legal review its license and add it to allow
  - id: no_pii_features
    type: expression
    expr: '!version.features.exists(f, f.matches("(?i)email|ssn|phone|name"))'
    message: a feature name looks like personal data (email, ssn, phone, name)
    owner: privacy@bank.example
    rationale: direct identifiers carry no credit signal and may not be processed
    remediation: drop direct identifiers (email, SSN, phone, name) from the feature set and retrain
    controls: [GDPR Art. 5(1)(c)]
  - id: model_card
    type: documentation
    documents:
      - name: model_card
        sections: [Intended use, Training data, Evaluation, Limitations, Fairness]
    owner: model-risk@bank.example
    rationale: reviewers and auditors must be able to read what the model is for and where it fails
    remediation: >-
      add the missing sections to model_card.md (Intended use, Training data, Evaluation,
      Limitations, Fairness; Fairness states approval rates per age band) and attach it again
  - id: monitoring_and_rollback
    type: documentation
    documents:
      - name: monitoring_plan
        sections: [Drift, Rejection rate, Alerts]
      - name: rollback_plan
        sections: [Trigger, Steps]
    owner: mlops@bank.example
    rationale: a production model must be watched and must be reversible in minutes
    remediation: >-
      document drift and rejection-rate monitoring with alert thresholds (monitoring_plan.md)
      and the rollback trigger and steps (rollback_plan.md), then attach both
"""
