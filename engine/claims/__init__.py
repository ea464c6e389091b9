"""Claims: "I am affected, am I on the list? why not?" answered for a whole batch at once.

A claims file (CSV: a CNIC, optionally a phone, the stated district and tehsil, a location, a
date, a name and an address per row) is read and tokenised at once
(:mod:`rahat.engine.claims.read`: the raw numbers never leave that step), matched to the
registry by CNIC token with sorted tokens and ``np.searchsorted``
(:mod:`rahat.engine.claims.decide`), and to a run's caseload by household id
(:mod:`rahat.engine.claims.run`). Each claim gets one decision and its reason codes
(:data:`rahat.engine.claims.decide.CODES`). Claimants not in the registry who are probably one
household are grouped (:mod:`rahat.engine.claims.duplicates`), and those in the footprint are
counted for registration outreach (:mod:`rahat.engine.claims.referrals`);
:mod:`rahat.engine.claims.outputs` writes the decisions, a summary by unit and reason, the
groups and the referrals.
"""
