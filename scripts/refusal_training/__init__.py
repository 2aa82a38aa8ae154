"""The offline refusal classifier's training, split by concern (run it through scripts/train_refusal.py):

- ``data``: the labelled recorded responses and their features (hashed n-grams, optional MiniLM vectors);
- ``model``: fitting the logistic regression and the shipped, quantised parameter file;
- ``evaluation``: agreement and refusal rates per model and task, the splits and the runtime check;
- ``search``: the candidate variants and how one is chosen (cross-validation inside the training models);
- ``doc``: the Markdown tables and docs/refusal-agreement.md.
"""
