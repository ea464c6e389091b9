"""Claims: "I am affected, am I on the list? why not?" answered for a whole batch at once.

A claims file (CSV: a CNIC, optionally a phone, the stated district and tehsil, a location and a
date per row) is read and tokenised at once (:mod:`rahat.engine.claims.read`: the raw numbers
never leave that step), matched to the registry by CNIC token with sorted tokens and
``np.searchsorted`` (:mod:`rahat.engine.claims.decide`), and to a run's caseload by household id
(:mod:`rahat.engine.claims.run`). Each claim gets one decision and its reason codes
(:data:`rahat.engine.claims.decide.CODES`); :mod:`rahat.engine.claims.outputs` writes the
decisions and a summary by unit and reason.
"""
