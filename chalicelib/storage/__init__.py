"""Storage: PynamoDB models and repositories — the only package that touches DynamoDB.

Repositories take and return domain records (``chalicelib.domain.records``)
and turn storage failures into domain exceptions, so nothing above this
package imports PynamoDB or botocore.
"""
