"""Administering the policy's money: calls, applications, review, public notice, decisions and payment.

* :mod:`.model` — pure rules: states and steps, who may take each, what an approved amount may be,
  two distinct approvers for a case-by-case amount, the top-ten limit, duplicate funding.
* :mod:`.programs` — which measures take applications, who applies and pays, the form from the facts.
* :mod:`.evidence` — evidence files: type by content, size limit, stored by SHA-256.
* :mod:`.calls` — calls for applications: dates, budget year, notice period, round size.
* :mod:`.applications` — the applicant's side: drafts, edits, evidence, submit with the engine's
  decision frozen.
* :mod:`.review` — the city's recommendation, the province's amount (and second approver), reject, return.
* :mod:`.views` — the read side: an application in full, the lists a caller may see.
* :mod:`.notice` — the public notice's objections: lodged, dismissed or upheld.
* :mod:`.payments` — budgets, payment batches of final awards and of granted compute vouchers.
* :mod:`.payouts` — the city's recorded payouts (the base of the matches) and its report on their use.
* :mod:`.reports` — the public notice, final awards, the case-by-case register, a round as Excel.

Every state change appends to the application's history and to the audit chain, in the caller's
transaction; money moves budget → payable → paid in the ledger.
"""
