"""Generation: requests built from items, sent through the response cache to a model backend
(``backends/``), in batches, with budgets and repeated sampling; no pytest here."""
