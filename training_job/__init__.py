"""The training job: prepare data, train VGG16 transfer learning, evaluate, export, register, publish.

``python -m training_job`` is the AWS Batch entry point; ``lungct train`` runs the same code.
"""
