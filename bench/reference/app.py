"""The reference: the canonical Powertools idempotency pattern, as in the Powertools documentation.

An ``@idempotent`` Lambda handler keyed on the body's ``idempotency_key`` that sends the body to SQS. Nothing
else: no validation, no event status, no logs or metrics. The benchmark runs it beside Plutus against the same
endpoint.
"""

import json
import os

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent,
)

persistence_layer = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])
config = IdempotencyConfig(event_key_jmespath="powertools_json(body).idempotency_key")
sqs = boto3.client("sqs")
QUEUE_URL = os.environ["QUEUE_URL"]


@idempotent(config=config, persistence_store=persistence_layer)
def handler(event, context):
    body = json.loads(event["body"])
    response = sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=json.dumps(body))
    return {"statusCode": 202, "body": json.dumps({"message_id": response["MessageId"]})}
