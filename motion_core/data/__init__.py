"""Training data: the corpus builder (CMU clips + procedural motion), captions, augmentation, and readers for the
HumanML3D / KIT-ML folder layout. numpy-only except `dataset` (the torch Dataset used by training)."""
