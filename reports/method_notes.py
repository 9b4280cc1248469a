"""One paragraph per attack and unlearning method, with its reference, for reports.

Reports print the note of every attack and unlearner that appears in a result;
a name not listed here gets a generic line (:func:`attack_note`, :func:`unlearner_note`).
Plain ASCII on purpose: the PDF uses the PDF core fonts.
"""

from __future__ import annotations

ATTACK_NOTES: dict[str, str] = {
    "loss": (
        "Loss threshold attack: the score is minus the per-record cross-entropy loss; training "
        "records tend to have a lower loss than unseen ones. The threshold is chosen on the "
        "evaluation data (attacker-optimistic). Reference: Yeom, Giacomelli, Fredrikson, Jha, "
        "'Privacy Risk in Machine Learning: Analyzing the Connection to Overfitting', IEEE CSF 2018."
    ),
    "confidence": (
        "Confidence threshold attack: the score is the model's probability for the true label "
        "(as log p_y, which ranks the same); members tend to be predicted more confidently. "
        "Reference: Salem et al., 'ML-Leaks: Model and Data Independent Membership Inference "
        "Attacks and Defenses on Machine Learning Models', NDSS 2019; Song & Mittal, USENIX Security 2021."
    ),
    "entropy": (
        "Entropy threshold attack: the score is minus the entropy of the predicted distribution; "
        "members tend to get sharper predictions. It does not use the label. Reference: Salem et al., "
        "'ML-Leaks: Model and Data Independent Membership Inference Attacks and Defenses on Machine "
        "Learning Models', NDSS 2019."
    ),
    "modified-entropy": (
        "Modified-entropy threshold attack: the score is minus the modified entropy, which, unlike "
        "plain entropy, falls when the model is confident in the correct label and rises when it is "
        "confident in a wrong one. Reference: Song & Mittal, 'Systematic Evaluation of Privacy Risks "
        "of Machine Learning Models', USENIX Security 2021."
    ),
    "loss-lr": (
        "Loss-based logistic-regression attack: a logistic regression on the per-record loss, fitted "
        "and scored with stratified 5-fold cross-validation so that every record is scored by a model "
        "that did not see it; each record's score is its percentile among its own fold's held-out "
        "records (pooling the folds' raw probabilities biases the AUC below 0.5 under the null). "
        "Reference: the NeurIPS 2023 Machine "
        "Unlearning Challenge starting kit; Salgado Herrera et al. 2024 (seed paper 002)."
    ),
    "gap": (
        "Gap attack (label-only): a record is called a member when the model classifies it "
        "correctly; the score is 1 for correct and 0 for wrong predictions, so it needs only the "
        "predicted label. Its advantage equals the train-test accuracy gap. Reference: Yeom et al., "
        "IEEE CSF 2018."
    ),
    "lira-online": (
        "Likelihood-ratio attack (LiRA), online variant: reference models are trained on random "
        "halves of a pool with and without each record; the score is the likelihood ratio of the "
        "record's logit-scaled confidence under the Gaussian fitted to the 'in' models versus the "
        "one fitted to the 'out' models. Reference: Carlini, Chien, Nasr, Song, Terzis, Tramer, "
        "'Membership Inference Attacks From First Principles', IEEE S&P 2022."
    ),
    "lira-offline": (
        "Likelihood-ratio attack (LiRA), offline variant: only reference models that did not train "
        "on the record are used; the score is the one-sided tail probability of the record's "
        "logit-scaled confidence under the 'out' Gaussian. Reference: Carlini et al., 'Membership "
        "Inference Attacks From First Principles', IEEE S&P 2022."
    ),
    "rmia": (
        "Robust membership inference attack (RMIA): compares the likelihood ratio of the record "
        "under the target and reference models with that of many population records, which makes "
        "it strong with few reference models. Reference: Zarifzadeh, Liu, Shokri, Dukler, 'Low-Cost "
        "High-Power Membership Inference Attacks', ICML 2024."
    ),
    "rmia-online": (
        "RMIA, online variant: reference models trained on random halves of the pool, with and without "
        "each record; the record's probability under the target, relative to the references' average, is "
        "compared pairwise with that of population records (the score is the share it beats). Reference: "
        "Zarifzadeh, Liu, Shokri, Dukler, 'Low-Cost High-Power Membership Inference Attacks', ICML 2024."
    ),
    "rmia-offline": (
        "RMIA, offline variant: only reference models that did not train on the record, their average "
        "probability corrected towards the missing 'in' models by the paper's linear factor; then the same "
        "pairwise comparison with population records. Reference: Zarifzadeh, Liu, Shokri, Dukler, ICML 2024."
    ),
    "boundary": (
        "Label-only boundary attack: the record is perturbed with growing strength (noise for tables, "
        "shifts and noise for images) and the score is how often the predicted label stays correct; models "
        "are more robust around their training records. Reference: Choquette-Choo, Tramer, Carlini, "
        "Papernot, 'Label-Only Membership Inference Attacks', ICML 2021; Li & Zhang, CCS 2021."
    ),
    "qmia": (
        "Quantile-regression attack (QMIA): a regression fitted on population (non-member) records "
        "predicts, per record, a high quantile of the score a non-member like it would get; a record "
        "scoring above its own quantile is flagged. No reference models are trained. Reference: Bertran, "
        "Tang, Roth, Kearns, Morgenstern, Wu, 'Scalable Membership Inference Attacks via Quantile "
        "Regression', NeurIPS 2023."
    ),
    "two-model": (
        "Two-model attack on unlearning: an attack classifier, trained on shadow pairs of original "
        "and unlearned models, reads the difference between the original and the unlearned "
        "model's outputs on a record to tell whether it was deleted; unlearning can then leak more "
        "than the original model alone. Reference: Chen, Zhang, Wang, Backes, Humbert, Zhang, "
        "'When Machine Unlearning Jeopardizes Privacy', ACM CCS 2021."
    ),
    "u-lira": (
        "U-LiRA: a likelihood-ratio attack adapted to unlearning, with reference models that are "
        "unlearned or retrained on random forget sets, so it asks whether a record was forgotten or "
        "never seen. Reference: Hayes, Shumailov, Triantafillou, Khalifa, Papernot, 'Inexact "
        "Unlearning Needs More Careful Evaluations to Avoid a False Sense of Privacy', 2024."
    ),
}

UNLEARNER_NOTES: dict[str, str] = {
    "retrain": (
        "Retraining from scratch on the retain set with the original recipe: exact unlearning and "
        "the reference every other method is compared with (accuracy, privacy and time)."
    ),
    "sisa": (
        "SISA (Sharded, Isolated, Sliced, Aggregated) training: the training set is split into "
        "shards, one model per shard, predictions aggregated; deleting a record retrains only its "
        "shard from the last slice checkpoint before it. Exact unlearning at a fraction of the cost. "
        "Reference: Bourtoule et al., 'Machine Unlearning', IEEE S&P 2021."
    ),
    "finetune": (
        "Fine-tuning: the original model is trained for a few more epochs on the retain set only, "
        "relying on catastrophic forgetting of the forget set. Approximate, no guarantee. "
        "Reference: baseline of the NeurIPS 2023 Machine Unlearning Challenge (seed paper 002)."
    ),
    "neggrad": (
        "Negative gradient (NegGrad): gradient ascent on the loss of the forget set, pushing the "
        "model away from the deleted records. Approximate; can destroy utility when run too long. "
        "Reference: Golatkar et al. 2020; NeurIPS 2023 unlearning baselines (seed paper 002)."
    ),
    "neggrad+": (
        "NegGrad+: gradient descent on the retain set combined with gradient ascent on the forget "
        "set in one weighted loss, which keeps utility better than NegGrad alone. Reference: "
        "Kurmanji et al., 'Towards Unbounded Machine Unlearning', NeurIPS 2023."
    ),
    "random-label": (
        "Random labels: the model is fine-tuned on the forget set with randomly reassigned labels "
        "(usually together with the retain set), so it no longer fits the true labels of the "
        "deleted records. Reference: Graves, Nagisetty, Ganesh, 'Amnesiac Machine Learning', AAAI 2021."
    ),
    "scrub": (
        "SCRUB: teacher-student unlearning; the student (initialised from the original) is pushed "
        "away from the teacher on the forget set and kept close to it on the retain set, alternating "
        "max and min steps. Reference: Kurmanji, Triantafillou, Hayes, Triantafillou, 'Towards "
        "Unbounded Machine Unlearning', NeurIPS 2023."
    ),
    "salun": (
        "SalUn (saliency unlearning): only the weights whose gradient on the forget loss is large "
        "(a saliency mask) are updated, with random-label fine-tuning on the forget set. Reference: "
        "Fan et al., 'SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency in "
        "Both Image Classification and Generation', ICLR 2024."
    ),
    "distillation": (
        "Distillation (NeurIPS 2023 unlearning challenge): the first and last layers of the network "
        "are re-initialised, then the model is distilled from the original (the teacher) on the "
        "retain and validation data with a soft cross-entropy, a cross-entropy and a KL term. "
        "Reference: seed paper 002 (NeurIPS 2023 Machine Unlearning Challenge solutions)."
    ),
    "rotate": (
        "Rotate (NeurIPS 2023 unlearning challenge): every convolution kernel is transposed (its "
        "spatial axes swapped), which breaks what the filters memorised, then the model is fine-tuned "
        "on the retain set. Convolutional networks only. Reference: seed paper 002."
    ),
    "pseudo-label": (
        "Pseudo-labelling (NeurIPS 2023 unlearning challenge): the original's, a fine-tuned model's "
        "and a short retrain's predictions on the forget set give pseudo-labels by the solution's rule; "
        "the linear head is re-initialised and trained on them with the retain set, combined with "
        "rotate. Reference: seed paper 002."
    ),
    "pruning": (
        "Pruning (NeurIPS 2023 unlearning challenge): 99 % of the convolution and linear weights are "
        "pruned by L1 magnitude and re-initialised at random, then the model is fine-tuned on the retain "
        "set with cross-entropy plus an MSE on the entropy of the logits. Reference: seed paper 002."
    ),
    "deviation": (
        "Deviation (NeurIPS 2023 unlearning challenge): each convolution weight is replaced by a draw "
        "from a Gaussian around it, then the model is fine-tuned with SGD, with a little more noise "
        "before the last epoch. Reference: seed paper 002 (3rd place)."
    ),
    "gradient-mask": (
        "Gradient mask (NeurIPS 2023 unlearning challenge): the retain-descent and forget-ascent "
        "gradients are compared; per convolution filter the 30 % most similar weights are "
        "re-initialised (He initialisation) and the network is trained through masked convolutions. "
        "Reference: seed paper 002."
    ),
    "divergence": (
        "Divergence (NeurIPS 2023 unlearning challenge): a warm-up pushes the outputs on the forget set "
        "towards the uniform distribution (KL), then each epoch alternates a contrastive loss between "
        "forget and retain records and a fine-tuning pass on retain. Reference: seed paper 002."
    ),
    "mia-guided": (
        "MIA-guided unlearning: fine-tuning with the classification loss on the retain set plus a "
        "weighted membership-inference loss on the forget set, against a differentiable attack model "
        "trained alongside, so that forgotten records look like non-members to the attacker. "
        "Reference: seed paper 001."
    ),
    "perturbation": (
        "Data perturbation (seed paper 000's family): the forget records are perturbed (feature noise "
        "or label noise) and the model is updated on them with the retain set, so it no longer fits the "
        "originals. Approximate. Reference: seed paper 000 (survey of unlearning families)."
    ),
    "eupg-kanon": (
        "EUPG with k-anonymity: the model is pre-trained on a k-anonymous version of the training data "
        "(MDAV microaggregation over the quasi-identifiers), then fine-tuned on the original data; a "
        "deletion fine-tunes the protected pre-trained model on the retain set only. Reference: "
        "Domingo-Ferrer, Jebreel, Sanchez, 'Efficient Unlearning with Privacy Guarantees' (seed paper 004)."
    ),
    "eupg-dp": (
        "EUPG with differential privacy: as eupg-kanon, but the pre-training data are protected with "
        "epsilon-DP (Laplace noise on numeric attributes, the exponential mechanism on categorical ones; "
        "DP-Pix for images). Reference: seed paper 004."
    ),
    "eupg": (
        "EUPG (efficient unlearning with privacy guarantees): the model is first trained on a "
        "privacy-protected version of the data (k-anonymised, or with differential privacy), then "
        "fine-tuned on the original data; a deletion request is served by fine-tuning the "
        "pre-trained model again without the deleted records. Reference: Domingo-Ferrer, Jebreel, "
        "Sanchez, 'Efficient Unlearning with Privacy Guarantees' (seed paper 004)."
    ),
}


def attack_note(name: str) -> str:
    """The paragraph about attack ``name``, or a generic line for a name not listed."""
    return ATTACK_NOTES.get(name, f"Attack '{name}': no method note is available for this name; "
                                  "see its implementation and documentation in the attacks package.")


def unlearner_note(name: str, reference: str | None = None) -> str:
    """The paragraph about unlearning method ``name``; for a name not listed, the method's
    ``reference`` line from the result when there is one, else a generic line."""
    if name in UNLEARNER_NOTES:
        return UNLEARNER_NOTES[name]
    if reference:
        return f"Unlearning method '{name}'. Reference: {reference}"
    return (f"Unlearning method '{name}': no method note is available for this name; see its "
            "implementation and documentation in the unlearners package.")
