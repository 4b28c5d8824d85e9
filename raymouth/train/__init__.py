"""Training the chain's models: the degradation family (``degrade``), training pairs made with
the chain's own preprocessing (``pairs``), frames -> crops and checks (``data``), the Ray Train
loop (``worker``), the native model's fit (``fit``) and the driver with its CLI (``driver``).
Imports everything below ``job``; nothing in inference imports this folder (evaluate does)."""
