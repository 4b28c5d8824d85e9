"""The batch job on Ray Data: the stages (``stages``), the same stages in this process
(``in_process``), the pipeline graph and its run bookkeeping (``pipeline``), and a person's own
source clip (``reference``: which reference goes with which video; ``finetune``: the per-person
fine-tune). Imports any folder below; nothing here is imported by a lower folder."""
