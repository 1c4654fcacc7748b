"""Looking at networks and what they learned: layer tables and receptive fields
(:mod:`.architecture`), PCA (:mod:`.pca`), figures (:mod:`.plots`) and predictions
(:mod:`.predictions`)."""
